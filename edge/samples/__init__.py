"""Shipped ECG sample records (package data): see README.md here; ``builtin:ecg-sample`` names the first."""
