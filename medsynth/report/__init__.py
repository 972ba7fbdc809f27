"""Tables (`medsynth.report.tables`) and figures (`medsynth.report.figures`)
made from the per-subject evaluation rows; figures import matplotlib, so
nothing is imported here."""
