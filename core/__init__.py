"""The studio engine: values, store, client, replay builder and the service that joins them.

Nothing in this package imports streamlit; the pages are a thin layer over it.
"""
