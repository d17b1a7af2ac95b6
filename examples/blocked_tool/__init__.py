"""An agent whose dangerous tool call Corral blocks while its safe one runs."""
