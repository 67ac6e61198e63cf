"""Helpers for scripts/build_catalog.py: turn the raw source files into the bundled catalog.

Modules:
    sources    -- file names, loading, hashing (litellm, Artificial Analysis, OpenRouter, models.dev)
    naming     -- model-name normalisation and creator inference
    keys       -- litellm key -> serving provider, region, upstream model; skip rules
    regions    -- geography and endpoint-region rules
    vertex_locations -- cited table of Vertex AI locations for current Gemini / Claude models
    lookups    -- models.dev and OpenRouter indexes (capability fallbacks, release dates, open weights)
    fields     -- per-deployment field values, each recorded with its source
    bench      -- Artificial Analysis matching (bench_intelligence)
    assemble   -- selection, de-duplication and the output document
"""
