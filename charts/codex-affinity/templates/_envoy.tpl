{{/*
Envoy's bootstrap, rendered from the same values as the processor's config. It is what
`codex-affinity envoy-config` prints for the processor config of this chart (the repository's
test/deploy/helm-chart.test.ts renders both with helm and proves them equal), and
deploy/envoy.yaml of the repository explains every setting.
*/}}
{{- define "codex-affinity.envoyConfig" -}}
{{- $header := .Values.routing.clusterHeader -}}
{{- /* Headers only Envoy and the processor set: removed from what clients send. */ -}}
{{- $internalOnly := list $header -}}
{{- range $name := list .Values.routing.poolHeader .Values.routing.principalHeader -}}
{{- if and $name (not (has $name $internalOnly)) -}}
{{- $internalOnly = append $internalOnly $name -}}
{{- end -}}
{{- end -}}
{{- $namespace := .Values.routing.metadataNamespace -}}
{{- /* Inference route: exactly routing.inferencePaths; WebSocket route: those ending in /responses. */ -}}
{{- $paths := list -}}
{{- $websocketPaths := list -}}
{{- range .Values.routing.inferencePaths -}}
{{- $paths = append $paths (regexQuoteMeta .) -}}
{{- if hasSuffix "/responses" . -}}
{{- $websocketPaths = append $websocketPaths (regexQuoteMeta .) -}}
{{- end -}}
{{- end -}}
{{- /* Calls on stored objects take the processor's header unless routing.storedObjectCalls is false (it defaults to true). */ -}}
{{- $storedObjectCalls := ne (toString (index .Values.routing "storedObjectCalls")) "false" -}}
{{- $clusters := list -}}
{{- range .Values.accounts -}}
{{- $clusters = append $clusters .cluster -}}
{{- end -}}
{{- $default := include "codex-affinity.defaultCluster" . -}}
{{- $chatgptDefault := include "codex-affinity.chatgptDefaultCluster" . -}}
{{- range $name := list $default $chatgptDefault -}}
{{- if and $name (not (has $name $clusters)) -}}
{{- fail (printf "envoy default cluster %q is not the cluster of any account" $name) -}}
{{- end -}}
{{- end -}}
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: {{ int .Values.envoy.adminPort }} }

# Envoy refuses a regex whose RE2 program is larger than this (100 by default): the inference
# and stored-object routes' regexes are larger.
layered_runtime:
  layers:
    - name: static
      static_layer:
        re2.max_program_size.error_level: 32768

static_resources:
  listeners:
    - name: codex_ingress
      address:
        socket_address: { address: 0.0.0.0, port_value: {{ int .Values.envoy.port }} }
      per_connection_buffer_limit_bytes: {{ int .Values.envoy.bufferLimitBytes }}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: codex_ingress
                codec_type: AUTO
                normalize_path: true
                merge_slashes: true
                stream_idle_timeout: {{ .Values.envoy.streamIdleTimeout }}
                # Only the pod is internal: Envoy strips x-envoy-* control headers and
                # internal_only_headers from every other client's requests.
                use_remote_address: true
                internal_address_config:
                  cidr_ranges:
                    - { address_prefix: 127.0.0.1, prefix_len: 32 }
                access_log:
                  - name: envoy.access_loggers.stdout
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
                      log_format:
                        json_format:
                          start_time: "%START_TIME%"
                          method: "%REQ(:METHOD)%"
                          path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"
                          protocol: "%PROTOCOL%"
                          response_code: "%RESPONSE_CODE%"
                          response_code_details: "%RESPONSE_CODE_DETAILS%"
                          response_flags: "%RESPONSE_FLAGS%"
                          upstream_cluster: "%UPSTREAM_CLUSTER%"
                          upstream_host: "%UPSTREAM_HOST%"
                          upstream_failure: "%UPSTREAM_TRANSPORT_FAILURE_REASON%"
                          request_attempts: "%UPSTREAM_REQUEST_ATTEMPT_COUNT%"
                          duration_ms: "%DURATION%"
                          bytes_received: "%BYTES_RECEIVED%"
                          bytes_sent: "%BYTES_SENT%"
                          request_id: "%REQ(X-REQUEST-ID)%"
                          affinity_account: "%DYNAMIC_METADATA({{ $namespace }}:account)%"
                          affinity_domain: "%DYNAMIC_METADATA({{ $namespace }}:domain)%"
                          affinity_strength: "%DYNAMIC_METADATA({{ $namespace }}:strength)%"
                          affinity_source: "%DYNAMIC_METADATA({{ $namespace }}:source)%"
                          affinity_outcome: "%DYNAMIC_METADATA({{ $namespace }}:outcome)%"
                http_filters:
                  # Removes client-sent copies of the headers only Envoy and the processor set.
                  # Put an authn filter that sets routing.principalHeader right after this one.
                  - name: codex_affinity.edge_hygiene
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation
                      mutations:
                        request_mutations:
                          {{- range $internalOnly }}
                          - remove: {{ . | quote }}
                          {{- end }}
                          {{- range list "x-envoy-max-retries" "x-envoy-retry-on" "x-envoy-retry-grpc-on" "x-envoy-retriable-status-codes" "x-envoy-retriable-header-names" "x-envoy-upstream-rq-timeout-ms" "x-envoy-upstream-rq-per-try-timeout-ms" "x-envoy-upstream-rq-timeout-alt-response" "x-envoy-expected-rq-timeout-ms" "x-envoy-hedge-on-per-try-timeout" "x-envoy-is-timeout-retry" "x-envoy-upstream-alt-stat-name" "x-envoy-upstream-stream-duration-ms" "x-envoy-force-trace" "x-envoy-ip-tags" "x-envoy-original-url" "x-envoy-original-path" "x-envoy-decorator-operation" "x-envoy-downstream-service-cluster" "x-envoy-downstream-service-node" }}
                          - remove: {{ . }}
                          {{- end }}
                  - name: envoy.filters.http.ext_proc
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
                      stat_prefix: codex_affinity
                      grpc_service:
                        envoy_grpc: { cluster_name: codex-affinity }
                      processing_mode:
                        request_header_mode: SEND
                        response_header_mode: SEND
                        request_body_mode: BUFFERED
                        response_body_mode: NONE
                        request_trailer_mode: SKIP
                        response_trailer_mode: SKIP
                      allow_mode_override: true
                      failure_mode_allow: false
                      message_timeout: {{ .Values.envoy.messageTimeout }}
                      {{- if .Values.routing.retryGuard }}
                      # The retry guard sets x-envoy-max-retries: 0 on hard requests.
                      mutation_rules:
                        allow_envoy: true
                      {{- end }}
                      metadata_options:
                        receiving_namespaces:
                          untyped: [{{ $namespace }}]
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
                route_config:
                  name: codex_affinity
                  internal_only_headers:
                    {{- range $internalOnly }}
                    - {{ . | quote }}
                    {{- end }}
                  virtual_hosts:
                    - name: codex
                      domains: ["*"]
                      routes:
                        {{- if $websocketPaths }}
                        # Responses over WebSocket: request body off (the upgraded stream never ends).
                        - name: responses_websocket
                          match:
                            safe_regex:
                              regex: {{ printf "^(%s)$" (join "|" $websocketPaths) | quote }}
                            headers:
                              - name: upgrade
                                string_match: { exact: websocket, ignore_case: true }
                          route:
                            cluster_header: {{ $header }}
                            cluster_not_found_response_code: SERVICE_UNAVAILABLE
                            auto_host_rewrite: true
                            timeout: 0s
                            idle_timeout: 3600s
                            upgrade_configs:
                              - upgrade_type: websocket
                          typed_per_filter_config:
                            envoy.filters.http.ext_proc:
                              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
                              overrides:
                                processing_mode:
                                  request_header_mode: SEND
                                  response_header_mode: SEND
                                  request_body_mode: NONE
                                  response_body_mode: NONE
                                  request_trailer_mode: SKIP
                                  response_trailer_mode: SKIP
                        {{- end }}
                        # Inference calls (POST to routing.inferencePaths): the processor's header.
                        - name: inference
                          match:
                            safe_regex:
                              regex: {{ printf "^(%s)$" (join "|" $paths) | quote }}
                            headers:
                              - name: ":method"
                                string_match: { exact: POST, ignore_case: true }
                          route:
                            cluster_header: {{ $header }}
                            cluster_not_found_response_code: SERVICE_UNAVAILABLE
                            auto_host_rewrite: true
                            timeout: 0s
                            retry_policy:
                              retry_on: "connect-failure,reset,retriable-status-codes"
                              retriable_status_codes: [502, 503]
                              num_retries: 1
                        {{- if $storedObjectCalls }}
                        # Calls on stored objects: the account holding the object, by the processor's header.
                        - name: create_conversation
                          match:
                            safe_regex:
                              regex: "^/v1/conversations/?$"
                            headers:
                              - name: ":method"
                                string_match: { exact: POST, ignore_case: true }
                          route:
                            cluster_header: {{ $header }}
                            cluster_not_found_response_code: SERVICE_UNAVAILABLE
                            auto_host_rewrite: true
                            timeout: 0s
                            retry_policy: { retry_on: connect-failure, num_retries: 1 }
                        # Exactly the paths the processor reads an object id from; compact and input_tokens are not ids.
                        - name: stored_objects
                          match:
                            safe_regex:
                              regex: "^/(v1/(responses|conversations)|responses)/[-0-9A-Z_a-z]{1,256}(/(\\.*[^/%.][^/%]*|\\.{3,}))*/?$"
                            headers:
                              - name: ":method"
                                string_match:
                                  safe_regex: { regex: "(?i)^(GET|POST|DELETE)$" }
                              - name: ":path"
                                string_match:
                                  safe_regex: { regex: "^/(v1/)?responses/(compact|input_tokens)([/?].*)?$" }
                                invert_match: true
                          route:
                            cluster_header: {{ $header }}
                            cluster_not_found_response_code: SERVICE_UNAVAILABLE
                            auto_host_rewrite: true
                            timeout: 0s
                            retry_policy: { retry_on: connect-failure, num_retries: 1 }
                        {{- end }}
                        # Non-inference calls (model listing, ...) are account-agnostic: fixed clusters.
                        {{- with $chatgptDefault }}
                        - name: default_chatgpt_codex
                          match: { prefix: "/backend-api/" }
                          route:
                            cluster: {{ . | quote }}
                            auto_host_rewrite: true
                            timeout: 300s
                            retry_policy: { retry_on: connect-failure, num_retries: 1 }
                        {{- end }}
                        - name: default
                          match: { prefix: "/" }
                          route:
                            cluster: {{ $default | quote }}
                            auto_host_rewrite: true
                            timeout: 300s
                            retry_policy: { retry_on: connect-failure, num_retries: 1 }
    # The kubelet cannot reach loopback: this listener passes only GET /ready (Envoy's admin)
    # and the gRPC health check (the processor).
    - name: envoy_readiness
      address:
        socket_address: { address: 0.0.0.0, port_value: {{ int .Values.envoy.readinessPort }} }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: envoy_readiness
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
                route_config:
                  name: envoy_readiness
                  virtual_hosts:
                    - name: readiness
                      domains: ["*"]
                      routes:
                        - match:
                            path: /ready
                            headers:
                              - name: ":method"
                                string_match: { exact: GET }
                          route: { cluster: envoy_admin, timeout: 2s }
                        # The kubelet's gRPC probe of the processor (HTTP/2 without TLS).
                        - match: { path: /grpc.health.v1.Health/Check, grpc: {} }
                          route: { cluster: codex-affinity, timeout: 2s }
                        - match: { prefix: "/" }
                          direct_response: { status: 404 }

  clusters:
    # The processor, in the same pod. gRPC needs HTTP/2.
    - name: codex-affinity
      type: STATIC
      connect_timeout: 0.25s
      load_assignment:
        cluster_name: codex-affinity
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: 127.0.0.1, port_value: {{ int .Values.processor.grpcPort }} }
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config:
            http2_protocol_options: {}
      circuit_breakers:
        thresholds:
          - priority: DEFAULT
            max_requests: 8192
            max_pending_requests: 8192
    # One cluster per account, named accounts[].cluster.
    {{- range .Values.accounts }}
    {{- $upstream := .upstream | default dict }}
    {{- $host := $upstream.host | default (eq (.profile | default "openai") "chatgpt-codex" | ternary "chatgpt.com" "api.openai.com") }}
    {{- $port := $upstream.port | default 443 }}
    {{- $tls := not (eq (toString (index $upstream "tls")) "false") }}
    - name: {{ .cluster | quote }}
      type: LOGICAL_DNS
      dns_lookup_family: V4_PREFERRED
      connect_timeout: 5s
      load_assignment:
        cluster_name: {{ .cluster | quote }}
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: {{ $host | quote }}, port_value: {{ int $port }} }
      {{- if $tls }}
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
          sni: {{ $host | quote }}
          common_tls_context:
            validation_context:
              trusted_ca: { filename: /etc/ssl/certs/ca-certificates.crt }
              match_typed_subject_alt_names:
                - san_type: DNS
                  matcher: { exact: {{ $host | quote }} }
      {{- end }}
    {{- end }}
    # Envoy's own admin port, for the readiness listener.
    - name: envoy_admin
      type: STATIC
      connect_timeout: 0.25s
      load_assignment:
        cluster_name: envoy_admin
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: 127.0.0.1, port_value: {{ int .Values.envoy.adminPort }} }
{{- end -}}
