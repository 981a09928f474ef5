"""engine.deploy"""
