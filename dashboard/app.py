"""The Headway dashboard: `headway dashboard`, or `streamlit run dashboard/app.py`."""

import streamlit as st

from dashboard import ui

st.set_page_config(page_title="Headway", page_icon=":material/schedule:", layout="wide")
if not ui.signed_in():
    st.stop()
page = st.navigation(
    [
        st.Page("app_pages/on_time.py", title="On time", icon=":material/timer_10:", default=True),
        st.Page("app_pages/tasks.py", title="Tasks", icon=":material/list_alt:"),
        st.Page("app_pages/new_task.py", title="New task", icon=":material/add_circle:"),
        st.Page("app_pages/capacity.py", title="Capacity", icon=":material/monitoring:"),
        st.Page("app_pages/metrics.py", title="Metrics", icon=":material/timer:"),
        st.Page("app_pages/dead_letters.py", title="Dead letters", icon=":material/report:"),
        st.Page("app_pages/workers.py", title="Workers", icon=":material/memory:"),
        st.Page("app_pages/forecast_accuracy.py", title="Forecast accuracy", icon=":material/insights:"),
    ]
)
page.run()
