"""One package per source system: its resource (API client) and its extraction assets."""
