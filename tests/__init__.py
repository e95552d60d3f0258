"""The test suite: behaviour against one shared, stateful fake GitHub (`fake_github.py`), the API
contract against GitHub's OpenAPI description through Prism, and real webhook payloads."""
