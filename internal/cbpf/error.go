package cbpf

import "fmt"

// Error reports an invalid program, naming the offending instruction.
type Error struct {
	Index  int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("cbpf: instruction %d: %s", e.Index, e.Reason) }
