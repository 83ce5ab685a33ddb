"""The Gemini route: wire format, HTTP client, the offline model, the model catalog."""
