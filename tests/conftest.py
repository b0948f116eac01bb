"""Shared pytest configuration (fixtures for the store live in ``storehelpers``)."""
