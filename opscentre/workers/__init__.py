"""Background work: feed polls run as RQ jobs. Never imports Dash or plotly."""
