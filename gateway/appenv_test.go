package gateway

import (
	"testing"

	"hpcgate/gateway/config"
)

// TestAppEnvHubAPI: a cluster's jobs reach the hub API where its hub_api
// says: the site's hub_api_url, or the login node's forwarded address.
func TestAppEnvHubAPI(t *testing.T) {
	hub := config.Hub{BaseURL: "/jh/", HubAPIURL: "https://hub.example.org/jh/hub/api"}
	for _, tc := range []struct {
		cluster       config.Cluster
		api, activity string
	}{
		{config.Cluster{HubAPI: config.HubAPIDirect},
			"https://hub.example.org/jh/hub/api", "https://hub.example.org/jh/hub/api/users/alice/activity"},
		{config.Cluster{HubAPI: config.HubAPIReverseTunnel, HubAPIBind: "10.0.0.1:8081"},
			"http://10.0.0.1:8081/jh/hub/api", "http://10.0.0.1:8081/jh/hub/api/users/alice/activity"},
	} {
		env := appEnv(tc.cluster.HubAPIURL(&hub), hub.BaseURL, "alice", "", "tok")
		if env["JUPYTERHUB_API_URL"] != tc.api || env["JUPYTERHUB_ACTIVITY_URL"] != tc.activity {
			t.Errorf("%s: API %q, activity %q; want %q, %q", tc.cluster.HubAPI,
				env["JUPYTERHUB_API_URL"], env["JUPYTERHUB_ACTIVITY_URL"], tc.api, tc.activity)
		}
	}
}
