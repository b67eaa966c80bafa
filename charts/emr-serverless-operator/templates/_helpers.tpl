{{/* The chart's name, or nameOverride. */}}
{{- define "eso.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name: fullnameOverride, else the release name when it already contains the
chart's name, else "<release>-<chart>". Names the Deployment, Service, RBAC and the default Lease.
*/}}
{{- define "eso.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "eso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "eso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "eso.labels" -}}
{{ include "eso.selectorLabels" . }}
app.kubernetes.io/part-of: emr-serverless-operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "eso.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "eso.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "eso.leaseName" -}}
{{- default (include "eso.fullname" .) .Values.operator.leaderElection.id }}
{{- end }}

{{- define "eso.metricsServiceName" -}}
{{- printf "%s-metrics" (include "eso.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "eso.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The `rules` of the object of this kind in manifests/rbac.yaml (files/rbac.yaml links to it): the
chart and `kubectl apply -k manifests/` grant exactly the same rights, written once.
Call with (dict "root" $ "kind" "ClusterRole").
*/}}
{{- define "eso.manifestRules" -}}
{{- $found := list }}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" (.root.Files.Get "files/rbac.yaml") -1 }}
{{- $obj := fromYaml $doc }}
{{- if eq (get $obj "kind") $.kind }}
{{- $found = append $found $obj.rules }}
{{- end }}
{{- end }}
{{- if ne (len $found) 1 }}
{{- fail (printf "files/rbac.yaml must hold exactly one %s" .kind) }}
{{- end }}
{{- toYaml (first $found) }}
{{- end }}
