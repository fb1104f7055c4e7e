"""The Streamlit dashboard (`headway dashboard`)."""

# Set by `headway dashboard` for the script: "token" asks for the API token before any page.
LOGIN_VARIABLE = "HEADWAY_DASHBOARD_LOGIN"
