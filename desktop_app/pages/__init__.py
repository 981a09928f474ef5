"""One page per file. Each page is a `Page` taking the shared AppState."""
