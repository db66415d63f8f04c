"""Report sections: one module per experiment, each turning a result and its figures into a :class:`Section`."""
