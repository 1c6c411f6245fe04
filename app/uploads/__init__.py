"""Direct uploads: the API signs a form, the client posts bytes straight to storage."""
