"""Dashboard page views, one module per page family. All of them load the project through
`get_project_for` (404 for other tenants) and render `dashboards/*.html`."""
