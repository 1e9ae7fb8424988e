"""The dashboard's in-memory caches: the latest state of every incident (snapshot), its search
index, the per-hour event counts. storage/ keeps the SQL they run."""
