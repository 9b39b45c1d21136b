package store

import (
	"reflect"
	"testing"

	"hpcgate/gateway/config"
)

// TestDecodeResources: the options column as this version writes it, and
// as rows written before typed resources hold it (a hub upgraded while
// servers run reads them).
func TestDecodeResources(t *testing.T) {
	for _, tc := range []struct {
		column string
		want   config.Resources
		bad    bool
	}{
		{`{"partition":"gpu","cores":4,"memory_mb":8192,"gpus":1,"extra":["--qos=x"]}`,
			config.Resources{Partition: "gpu", Cores: 4, MemoryMB: 8192, GPUs: 1, Extra: []string{"--qos=x"}}, false},
		{`{"cores":"4","gpus":"0","memory":"4096M","partition":"debug","account":"proj","walltime":"1h0m0s"}`,
			config.Resources{Partition: "debug", Account: "proj", Cores: 4, MemoryMB: 4096}, false},
		{`{}`, config.Resources{}, false},
		{`{"cores":"four"}`, config.Resources{}, true},
		{`[]`, config.Resources{}, true},
	} {
		got, err := decodeResources(tc.column)
		if (err != nil) != tc.bad || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("decodeResources(%s) = %+v, %v; want %+v (error %v)", tc.column, got, err, tc.want, tc.bad)
		}
	}
	for _, r := range []config.Resources{{Cores: 2, GPUs: 1, Partition: "p"}, {Cores: 1, MemoryMB: 512, Account: "a", Extra: []string{"-x"}}} {
		s, err := encodeResources(r)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := decodeResources(s); err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("round trip of %+v through %s: %+v, %v", r, s, got, err)
		}
	}
}
