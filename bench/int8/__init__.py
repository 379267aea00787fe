"""Helpers of bench/int8_vs_peers.py: real data sets and the peer quantizers."""
