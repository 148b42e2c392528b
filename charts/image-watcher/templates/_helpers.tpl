{{/* Labels of every object: the kustomize ones plus Helm's. Call with (dict "root" $ "component" "webhook"). */}}
{{- define "image-watcher.labels" -}}
app.kubernetes.io/name: image-watcher
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: image-watcher
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Selector labels of a component (the same as kustomize's: selectors are immutable). */}}
{{- define "image-watcher.selector" -}}
app.kubernetes.io/name: image-watcher
app.kubernetes.io/component: {{ . }}
{{- end }}

{{/* repository:tag[@digest]; the tag defaults to the chart's appVersion, so never untagged. */}}
{{- define "image-watcher.image" -}}
{{- $tag := .image.tag | default .root.Chart.AppVersion -}}
{{- if not $tag }}{{ fail "images.*.tag or the chart's appVersion must name a version" }}{{ end -}}
{{- /* suffix "-git": the watcher image with git and ssh (Git write-back). */ -}}
{{- with .suffix }}{{ if not (hasSuffix . $tag) }}{{ $tag = printf "%s%s" $tag . }}{{ end }}{{ end -}}
{{- .image.repository }}:{{ $tag }}{{ with .image.digest }}@{{ . }}{{ end }}
{{- end }}

{{- define "image-watcher.ns" -}}
{{ .Values.namespace.name }}
{{- end }}

{{/* The pod spec parts users may set: pull secrets, node selector, tolerations, affinity. */}}
{{- define "image-watcher.scheduling" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if .values.affinity }}
  {{- toYaml .values.affinity | nindent 2 }}
{{- else }}
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "image-watcher.selector" .component | nindent 14 }}
{{- end }}
{{- end }}

{{- define "image-watcher.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
privileged: false
capabilities:
  drop: ['ALL']
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "image-watcher.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}
