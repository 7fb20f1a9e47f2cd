"""Fixtures for the SQL-level suite; the helpers live in tests/support/
(databases, PostgREST replay).

scripts/test.sh starts a throwaway cluster with Supabase's roles and exports
PGHOST/PGPORT; each test module gets databases with the extension and the
sample data loaded, and talks to them the three ways users do: PostgREST's
exact SQL, psql writing files, and plain SQL.
"""
import pytest

from support import Session, create_database


@pytest.fixture(scope="module")
def sample_db(request):
    """A Supabase-like database (auth schema, roles) with the sample data."""
    return create_database(f"t_{request.module.__name__}")


@pytest.fixture(scope="module")
def postgrest(sample_db):
    return Session(sample_db)
