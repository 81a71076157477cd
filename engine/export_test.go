package engine

// Unregister removes a backend a test registered, so that the registry the
// other tests see is the program's.
func Unregister(name string) { delete(registry, name) }
