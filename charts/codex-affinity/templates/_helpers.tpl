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
itself (`codex-affinity check`): accounts (without the chart-only `upstream`), routing,
store, shutdown, and the free-form `config`; grpc and http are fixed by the pod layout.
test/deploy/helm-chart.test.ts builds the same object from values.yaml and parses it.
*/}}
{{- define "codex-affinity.processorConfig" -}}
{{- if not .Values.accounts -}}
{{- fail "accounts: at least one account is required" -}}
{{- end -}}
{{- $extra := .Values.config | default dict -}}
{{- range $key := list "accounts" "routing" "store" "shutdown" "grpc" "http" -}}
{{- if hasKey $extra $key -}}
{{- fail (printf "config.%s: set it through the chart's own value (%s, or processor.* for grpc/http)" $key $key) -}}
{{- end -}}
{{- end -}}
{{- $accounts := list -}}
{{- range .Values.accounts -}}
{{- $accounts = append $accounts (omit . "upstream") -}}
{{- end -}}
{{- $config := deepCopy $extra -}}
{{- $_ := set $config "grpc" (dict "host" "127.0.0.1" "port" (int .Values.processor.grpcPort)) -}}
{{- $_ := set $config "http" (dict "host" "0.0.0.0" "port" (int .Values.processor.httpPort)) -}}
{{- $_ := set $config "routing" .Values.routing -}}
{{- $_ := set $config "store" .Values.store -}}
{{- $_ := set $config "shutdown" .Values.shutdown -}}
{{- $_ := set $config "accounts" $accounts -}}
{{- toYaml $config -}}
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
