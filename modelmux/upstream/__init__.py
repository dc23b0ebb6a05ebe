"""Everything that talks to Google: credentials, the Vertex client, remote image fetching."""

from modelmux.upstream.vertex import VertexClient, probe

__all__ = ["VertexClient", "probe"]
