//go:build !race

package namespace

// raceInitEnv is empty without the race detector (see race_on.go).
func raceInitEnv() []string { return nil }
