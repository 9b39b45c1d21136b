package store

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"hpcgate/gateway/config"
)

// resourcesRow is a server's resolved resources as the options column
// keeps them (the walltime has its own column).
type resourcesRow struct {
	Partition string   `json:"partition,omitempty"`
	Account   string   `json:"account,omitempty"`
	Cores     int      `json:"cores"`
	MemoryMB  int      `json:"memory_mb,omitempty"`
	GPUs      int      `json:"gpus"`
	Extra     []string `json:"extra,omitempty"`
}

func encodeResources(r config.Resources) (string, error) {
	b, err := json.Marshal(resourcesRow{Partition: r.Partition, Account: r.Account, Cores: r.Cores,
		MemoryMB: r.MemoryMB, GPUs: r.GPUs, Extra: r.Extra})
	return string(b), err
}

// decodeResources reads the column, in this form or in the one rows
// written before it have: the options as strings ({"cores": "4",
// "memory": "4096M", …}), which is what a hub upgraded with servers
// running finds.
func decodeResources(s string) (config.Resources, error) {
	var row resourcesRow
	if err := json.Unmarshal([]byte(s), &row); err == nil {
		return config.Resources{Partition: row.Partition, Account: row.Account, Cores: row.Cores,
			MemoryMB: row.MemoryMB, GPUs: row.GPUs, Extra: row.Extra}, nil
	}
	var old map[string]string
	if err := json.Unmarshal([]byte(s), &old); err != nil {
		return config.Resources{}, err
	}
	r := config.Resources{Partition: old["partition"], Account: old["account"]}
	for _, f := range []struct {
		key string
		to  *int
	}{{"cores", &r.Cores}, {"gpus", &r.GPUs}, {"memory", &r.MemoryMB}} {
		v := strings.TrimSuffix(old[f.key], "M")
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return config.Resources{}, fmt.Errorf("%s %q: %w", f.key, old[f.key], err)
		}
		*f.to = n
	}
	return r, nil
}
