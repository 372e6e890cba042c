"""What only the notebooks use: showcase checks, plots, and the papermill runner."""
