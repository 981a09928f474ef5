"""engine.analysis"""
