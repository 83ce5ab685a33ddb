"""A team's review: comments and status on versions, each person's inbox, the shared brand kit.
Who may do what is decided in core/review/rules.py on top of core/team's access rules."""
