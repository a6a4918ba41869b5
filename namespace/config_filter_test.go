package namespace

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBPFProgramRoundTrip(t *testing.T) {
	for _, p := range []bpfProgram{
		nil,
		{},
		{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x06, K: 0x7fff0000}},
	} {
		cfg := initConfig{Seccomp: p}
		b, err := json.Marshal(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got initConfig
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if len(p) == 0 && len(got.Seccomp) == 0 {
			continue
		}
		assert.Equal(t, p, got.Seccomp, "round trip")
	}
	var p bpfProgram
	if err := json.Unmarshal([]byte(`"AAAA"`), &p); err == nil {
		t.Error("3-byte program accepted")
	}
}

func FuzzBPFProgramUnmarshal(f *testing.F) {
	f.Add([]byte(`null`))
	f.Add([]byte(`"IAAAAAQAAAA="`))
	f.Add([]byte(`[{"Code":6}]`))
	f.Add([]byte(`"AAAA"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p bpfProgram
		if err := json.Unmarshal(b, &p); err != nil {
			return
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var q bpfProgram
		require.NoError(t, json.Unmarshal(again, &q), "%s", again)
		require.Equal(t, p, q, "re-decoded %s", again)
	})
}
