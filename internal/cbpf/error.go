package cbpf

import "fmt"

// Error reports an invalid program, naming the offending instruction.
type Error struct {
	Index  int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("cbpf: instruction %d: %s", e.Index, e.Reason) }

// TooLongError reports a program longer than the kernel's MaxInsns.
type TooLongError struct {
	Len int
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("cbpf: program has %d instructions, limit %d", e.Len, MaxInsns)
}
