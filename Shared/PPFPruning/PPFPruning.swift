/// `PPFPruning`: see the module's files for its documentation.
