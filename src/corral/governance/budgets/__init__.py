"""Budgets: spend and call ceilings over windows, enforced by reservation and by halts."""
