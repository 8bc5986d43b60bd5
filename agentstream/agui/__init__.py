"""AG-UI clients: reconciling their message lists with the thread, and a run as an AG-UI stream."""
