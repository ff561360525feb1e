"""The REST API's handlers by area: cluster (and `_cat`), indices, documents, search; api holds what they share.

Each handler takes (api, request, **url values) and returns (status, body); localsearch/http.py routes to them.
"""
