"""Tests of suture.features."""
