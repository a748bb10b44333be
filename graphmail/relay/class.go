package relay

// ConfigProblem reports true: the options must change. It lets
// classifiers (graphmail.ClassOf) recognise the error without importing
// this package.
func (e *ConfigError) ConfigProblem() bool { return true }
