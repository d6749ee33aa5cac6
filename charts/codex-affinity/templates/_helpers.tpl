{{/* Object names: the release name, plus the chart name unless the release name has it. */}}
{{- define "codex-affinity.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "codex-affinity.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "codex-affinity.labels" -}}
{{ include "codex-affinity.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "codex-affinity.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "codex-affinity.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The processor's config.yaml. Values pass through unchanged, so the processor validates them
itself (`codex-affinity check`): accounts, routing, store and the free-form `config`. The
chart sets grpc and http (the pod layout), shutdown (drain after Envoy, see deployment.yaml)
and envoy (what `codex-affinity envoy-config` needs to print the Envoy config of this chart).
*/}}
{{- define "codex-affinity.processorConfig" -}}
{{- if not .Values.accounts -}}
{{- fail "accounts: at least one account is required" -}}
{{- end -}}
{{- $extra := .Values.config | default dict -}}
{{- range $key := list "accounts" "routing" "store" "shutdown" "envoy" "grpc" "http" -}}
{{- if hasKey $extra $key -}}
{{- fail (printf "config.%s: set by the chart (use the chart's own values)" $key) -}}
{{- end -}}
{{- end -}}
{{- $config := deepCopy $extra -}}
{{- $_ := set $config "grpc" (dict "host" "127.0.0.1" "port" (int .Values.processor.grpcPort)) -}}
{{- $_ := set $config "http" (dict "host" "0.0.0.0" "port" (int .Values.processor.httpPort)) -}}
{{- $_ := set $config "routing" .Values.routing -}}
{{- $_ := set $config "store" .Values.store -}}
{{- $_ := set $config "accounts" .Values.accounts -}}
{{- $_ := set $config "shutdown" (dict "grace" (printf "%ds" (int (include "codex-affinity.processorGraceSeconds" .))) "envoyAdmin" (printf "127.0.0.1:%d" (int .Values.envoy.adminPort))) -}}
{{- $envoy := dict "listenerPort" (int .Values.envoy.port) "adminPort" (int .Values.envoy.adminPort) "readinessPort" (int .Values.envoy.readinessPort) "bufferLimitBytes" (int .Values.envoy.bufferLimitBytes) "streamIdleTimeout" .Values.envoy.streamIdleTimeout "messageTimeout" .Values.envoy.messageTimeout -}}
{{- with .Values.envoy.defaultCluster }}{{ $_ := set $envoy "defaultCluster" . }}{{ end -}}
{{- with .Values.envoy.chatgptDefaultCluster }}{{ $_ := set $envoy "chatgptDefaultCluster" . }}{{ end -}}
{{- $_ := set $config "envoy" $envoy -}}
{{- toYaml $config -}}
{{- end -}}

{{/*
Shutdown timing (deployment.yaml): Envoy's preStop drains for envoy.drainSeconds, then waits
for its last request at most shutdown.longestTurnSeconds; the processor serves until Envoy has
exited, at most 5 s more; the pod's grace period is 10 s above that.
*/}}
{{- define "codex-affinity.processorGraceSeconds" -}}
{{- add (int .Values.envoy.drainSeconds) (int .Values.shutdown.longestTurnSeconds) 5 -}}
{{- end -}}

{{- define "codex-affinity.terminationGracePeriodSeconds" -}}
{{- add (int (include "codex-affinity.processorGraceSeconds" .)) 10 -}}
{{- end -}}

{{/* The cluster of non-inference calls: envoy.defaultCluster, else the first openai account's, else the first account's. */}}
{{- define "codex-affinity.defaultCluster" -}}
{{- $cluster := .Values.envoy.defaultCluster -}}
{{- range .Values.accounts -}}
{{- if and (not $cluster) (eq (.profile | default "openai") "openai") -}}
{{- $cluster = .cluster -}}
{{- end -}}
{{- end -}}
{{- $cluster | default (first .Values.accounts).cluster -}}
{{- end -}}

{{/* The cluster of non-inference /backend-api/ calls: envoy.chatgptDefaultCluster, else the first chatgpt-codex account's, else none. */}}
{{- define "codex-affinity.chatgptDefaultCluster" -}}
{{- $cluster := .Values.envoy.chatgptDefaultCluster -}}
{{- range .Values.accounts -}}
{{- if and (not $cluster) (eq (.profile | default "openai") "chatgpt-codex") -}}
{{- $cluster = .cluster -}}
{{- end -}}
{{- end -}}
{{- $cluster -}}
{{- end -}}

{{/* The Secret mounted into the processor: an existing one, the chart's own, or none. */}}
{{- define "codex-affinity.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.create -}}
{{- printf "%s-secrets" (include "codex-affinity.fullname" .) -}}
{{- end -}}
{{- end -}}
