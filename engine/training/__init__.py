"""engine.training"""
