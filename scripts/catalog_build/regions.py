"""Residency rules: region -> geography, and the concrete endpoint region to call.

Only region-pinned deployments get a geography. First-party global endpoints (OpenAI, Anthropic,
Mistral, DeepSeek, ...) stay null: none of the saved source files states where they process data.
"""

from __future__ import annotations

from catalog_build.naming import BEDROCK_PROFILES

# Bedrock cross-region inference profile -> coarse geography.
PROFILE_GEOGRAPHY = {
    "us": "us",
    "us-gov": "us",
    "eu": "eu",
    "apac": "apac",
    "jp": "jp",
    "au": "au",
    "in": "in",
    "global": "global",
}
# A source region documented for each Bedrock inference-profile geography (AWS "Supported Regions and
# models for inference profiles"); a profile must be called from one of its source regions.
PROFILE_ENDPOINT = {
    "us": "us-east-1",
    "us-gov": "us-gov-west-1",
    "eu": "eu-central-1",
    "apac": "ap-northeast-1",
    "jp": "ap-northeast-1",
    "au": "ap-southeast-2",
    "in": "ap-south-1",
    "global": "us-east-1",
}
AZURE_GEOGRAPHY = {"eu": "eu", "us": "us", "us-gov": "us", "apac": "apac", "global": "global"}


def aws_geography(region: str) -> str | None:
    if region.startswith(("us-", "us-gov-")):
        return "us"
    if region.startswith("eu-"):
        return "eu"
    if region in ("ap-northeast-1", "ap-northeast-3"):
        return "jp"
    if region in ("ap-southeast-2", "ap-southeast-4"):
        return "au"
    if region.startswith("ap-south-"):
        return "in"
    if region.startswith("ap-"):
        return "apac"
    return None  # ca-, sa-, me-, ...: no coarse bucket in the schema


def vertex_geography(location: str) -> str | None:
    """Vertex location -> coarse geography. `us` / `eu` are Vertex multi-region locations."""
    if location in ("global", "us", "eu"):
        return location
    if location.startswith("us-"):
        return "us"
    if location.startswith("europe-"):
        return "eu"
    if location == "asia-northeast1":
        return "jp"
    if location.startswith("asia-south"):
        return "in"
    if location.startswith("australia-"):
        return "au"
    if location.startswith("asia-"):
        return "apac"
    return None


def residency(provider: str, region: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    """(geography, its source, endpoint_region, its source) for a deployment."""
    if region is None:
        return None, None, None, None
    if provider == "bedrock":
        if region in BEDROCK_PROFILES:
            geo = PROFILE_GEOGRAPHY[region]
            endpoint = PROFILE_ENDPOINT[region]
            return (
                geo,
                f"derived:Bedrock inference profile {region}. -> geography {geo}",
                endpoint,
                f"derived:documented source region {endpoint} for the Bedrock {region}. inference profile",
            )
        aws = aws_geography(region)
        return aws, (f"derived:AWS region {region} -> {aws}" if aws else None), region, None
    if provider == "vertex":
        # A Vertex call goes to locations/{region} itself, so the endpoint region is the location.
        loc = vertex_geography(region)
        return loc, (f"derived:Vertex location {region} -> {loc}" if loc else None), region, None
    if provider == "azure":
        zone = AZURE_GEOGRAPHY.get(region)
        return zone, (f"derived:Azure data zone {region} -> {zone}" if zone else None), None, None
    if region == "us":
        return "us", "derived:region us -> us", None, None
    return None, None, None, None
