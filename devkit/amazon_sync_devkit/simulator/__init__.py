"""A local Amazon: LWA, the Feeds API 2021-06-30 and Listings Items patchListingsItem, built from
Amazon's official models, with rate limits, asynchronous processing and injectable faults."""
