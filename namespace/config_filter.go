package namespace

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// bpfProgram is a seccomp filter as it crosses the config pipe: packed in
// the kernel's layout (8 bytes an instruction) and sent as one base64
// string. The default profile has ~750 instructions; as a JSON array of
// objects they took the init over a millisecond to decode, as bytes a few
// microseconds.
type bpfProgram []unix.SockFilter

// MarshalJSON packs the program into a base64 JSON string.
func (p bpfProgram) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("null"), nil
	}
	raw := make([]byte, 0, 8*len(p))
	for _, f := range p {
		raw = binary.LittleEndian.AppendUint16(raw, f.Code)
		raw = append(raw, f.Jt, f.Jf)
		raw = binary.LittleEndian.AppendUint32(raw, f.K)
	}
	return json.Marshal(raw)
}

// UnmarshalJSON reverses MarshalJSON.
func (p *bpfProgram) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw)%8 != 0 {
		return fmt.Errorf("seccomp program of %d bytes: not a multiple of 8", len(raw))
	}
	if raw == nil {
		*p = nil
		return nil
	}
	out := make(bpfProgram, len(raw)/8)
	for i := range out {
		r := raw[8*i:]
		out[i] = unix.SockFilter{
			Code: binary.LittleEndian.Uint16(r),
			Jt:   r[2],
			Jf:   r[3],
			K:    binary.LittleEndian.Uint32(r[4:]),
		}
	}
	*p = out
	return nil
}
