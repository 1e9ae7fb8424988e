"""The HTTP gateway: CloudEvents over HTTP and Open311 GeoReport v2 in front of city.events."""
