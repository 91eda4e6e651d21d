{{/* Names, labels and the checks every render runs. */}}

{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.fullname" -}}
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

{{/* The StatefulSet's headless Service: within 63 characters as the other names. */}}
{{- define "sluice.headlessName" -}}
{{- printf "%s-headless" (include "sluice.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* PostgreSQL job store: several replicas possible, a Deployment. */}}
{{- define "sluice.postgres" -}}
{{- if .Values.jobStore.url }}true{{ end }}
{{- end }}

{{/* Refuse shapes that cannot work, with a message naming the values. */}}
{{- define "sluice.validate" -}}
{{- $postgres := include "sluice.postgres" . }}
{{- if and (gt (int .Values.replicaCount) 1) (not $postgres) }}
{{- fail (printf "replicaCount=%d needs the PostgreSQL job store: set jobStore.url (SQLite holds one daemon only)" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not $postgres) }}
{{- fail "autoscaling.enabled needs the PostgreSQL job store: set jobStore.url (SQLite holds one daemon only)" }}
{{- end }}
{{- if and $postgres (not (index .Values.config "content_digest_key")) }}
{{- fail "the PostgreSQL job store needs one content digest key shared by every replica (the daemon refuses to start without it; a Deployment's pods have no volume to keep a generated one): set config.content_digest_key to a secret reference (env:NAME or file:PATH)" }}
{{- end }}
{{- include "sluice.validateSecretReferences" .Values.config }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- fail "tls.enabled needs tls.existingSecret (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and .Values.tls.requireClientAuth (not .Values.tls.clientCA) }}
{{- fail "tls.requireClientAuth needs tls.clientCA (ca.crt in tls.existingSecret)" }}
{{- end }}
{{- /* Scheme and all: checked here rather than by a schema pattern, whose error quotes the value. */}}
{{- if and $postgres (not (regexMatch "^postgres(ql)?://[^:@/?#]+@[^@?#]*$" .Values.jobStore.url)) }}
{{- fail "jobStore.url must be postgresql://USER@HOST:PORT/DB (or postgres://; no other scheme): no password (user:password@, a second @) and no query (?password=, ?sslpassword=); the password comes from jobStore.existingSecret, TLS from jobStore.sslmode" }}
{{- end }}
{{- if and .Values.jobStore.existingSecret (not $postgres) }}
{{- fail "jobStore.existingSecret is set but jobStore.url is empty" }}
{{- end }}
{{- /* hasKey, not default: 0 is a grace of its own, not "unset". */}}
{{- $grace := 20 }}
{{- if hasKey .Values.config "shutdown_grace_seconds" }}
{{- $grace = index .Values.config "shutdown_grace_seconds" }}
{{- end }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (float64 $grace) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed config.shutdown_grace_seconds (%v), or Kubernetes kills exports before they checkpoint" .Values.terminationGracePeriodSeconds $grace) }}
{{- end }}
{{- /* Each pod's state folder and /tmp are its own emptyDirs: an export handed over to
another replica would continue without the chunks written there (the daemon refuses the
state folder too, but only once the pods start). */}}
{{- if $postgres }}
{{- $roots := index .Values.config "allowed_roots" | default list }}
{{- if kindIs "string" $roots }}{{- $roots = list $roots }}{{- end }}
{{- $own := list }}
{{- range $roots }}
{{- if or (hasPrefix "/var/lib/sluice/" (printf "%s/" (toString .))) (hasPrefix "/tmp/" (printf "%s/" (toString .))) }}
{{- $own = append $own . }}
{{- end }}
{{- end }}
{{- if or (not $roots) $own }}
{{- fail (printf "the PostgreSQL job store needs config.allowed_roots set to folders every replica shares (a ReadWriteMany volume in extraVolumes and extraVolumeMounts)%s: the default root, /var/lib/sluice/exports, and /tmp are each pod's own emptyDir, so an export handed over to another replica would lose the chunks written there" (ternary (printf "; %s is a pod's own" (join ", " $own)) "" (gt (len $own) 0))) }}
{{- end }}
{{- end }}
{{- if and .Values.strategy (not $postgres) }}
{{- fail "strategy applies to the PostgreSQL shape's Deployment: the SQLite shape's StatefulSet replaces its one pod without overlap" }}
{{- end }}
{{- if and .Values.jobStore.leaseSeconds (hasKey .Values.config "job_lease_seconds") }}
{{- if ne (float64 .Values.jobStore.leaseSeconds) (float64 (index .Values.config "job_lease_seconds")) }}
{{- fail (printf "jobStore.leaseSeconds (%v) and config.job_lease_seconds (%v) differ: set one (jobStore.leaseSeconds is rendered as SLUICE_JOB_LEASE_SECONDS, which wins)" .Values.jobStore.leaseSeconds (index .Values.config "job_lease_seconds")) }}
{{- end }}
{{- end }}
{{- /* Without TLS the chart sets insecure = true; outside the cluster with no principals
that is an open, unauthenticated daemon: only when the operator says so. */}}
{{- $principals := dig "auth" "principals" list .Values.config }}
{{- /* config.insecure can only say yes: without TLS the chart renders insecure = true
whatever it says, so any other value (false, "true") would be a silent plaintext. */}}
{{- if and (not .Values.tls.enabled) (hasKey .Values.config "insecure") }}
{{- $insecure := index .Values.config "insecure" }}
{{- if not (and (kindIs "bool" $insecure) $insecure) }}
{{- fail (printf "config.insecure: %s with tls.enabled=false: the chart serves plaintext gRPC (insecure = true) whenever TLS is off; enable tls, or set config.insecure: true (a boolean) to accept plaintext" (toJson $insecure)) }}
{{- end }}
{{- end }}
{{- if and (not .Values.tls.enabled) (has .Values.service.type (list "LoadBalancer" "NodePort")) (not $principals) (not (hasKey .Values.config "insecure")) }}
{{- fail (printf "service.type=%s with tls.enabled=false and no config.auth.principals exposes an unauthenticated plaintext daemon outside the cluster: enable tls, name principals, or accept it with config.insecure: true" .Values.service.type) }}
{{- end }}
{{- /* With TLS the daemon, on 0.0.0.0, refuses to start without principals unless told
insecure: say so at install rather than leave a pod crash-looping. */}}
{{- if and .Values.tls.enabled (not $principals) (not (hasKey .Values.config "insecure")) }}
{{- fail "tls.enabled with no config.auth.principals: the daemon refuses to start (every caller with a certificate the server trusts could call every RPC); name principals (cert_identity under tls.requireClientAuth, or token_ref), or accept it with config.insecure: true" }}
{{- end }}
{{- range $key := list "address" "state_dir" "tls" "metrics_address" "health_address" "job_store" "job_store_password_ref" "job_store_sslmode" "job_store_sslrootcert" "metrics_dataset_label" }}
{{- if hasKey $.Values.config $key }}
{{- fail (printf "config.%s is managed by the chart: use the chart's own values (see README)" $key) }}
{{- end }}
{{- end }}
{{- end }}

{{/* sluice.toml: the chart's settings, then config. */}}
{{- define "sluice.config" -}}
{{- $managed := dict "address" (printf "0.0.0.0:%d" (int .Values.service.port)) "state_dir" "/var/lib/sluice" }}
{{- if .Values.metrics.enabled }}
{{- $_ := set $managed "metrics_address" (printf "0.0.0.0:%d" (int .Values.metrics.port)) }}
{{- $_ := set $managed "metrics_dataset_label" .Values.metrics.datasetLabel }}
{{- end }}
{{- $_ := set $managed "health_address" (printf "0.0.0.0:%d" (int .Values.healthPort)) }}
{{- if .Values.tls.enabled }}
{{- $tls := dict "cert_file" "/etc/sluice/tls/tls.crt" "key_file" "/etc/sluice/tls/tls.key" }}
{{- if .Values.tls.clientCA }}
{{- $_ := set $tls "client_ca_file" "/etc/sluice/tls/ca.crt" }}
{{- $_ := set $tls "require_client_auth" .Values.tls.requireClientAuth }}
{{- end }}
{{- $_ := set $managed "tls" $tls }}
{{- else }}
{{- $_ := set $managed "insecure" true }}
{{- end }}
{{- if .Values.jobStore.url }}
{{- $_ := set $managed "job_store" .Values.jobStore.url }}
{{- if .Values.jobStore.existingSecret }}
{{- $_ := set $managed "job_store_password_ref" "env:JOB_STORE_PASSWORD" }}
{{- end }}
{{- with .Values.jobStore.sslmode }}
{{- $_ := set $managed "job_store_sslmode" . }}
{{- end }}
{{- if .Values.jobStore.sslRootCertSecret }}
{{- $_ := set $managed "job_store_sslrootcert" "/etc/sluice/postgres/ca.crt" }}
{{- end }}
{{- end }}
{{- toToml (merge (deepCopy .Values.config) $managed) }}
{{- end }}

{{/* Settings that hold secrets take references (env:NAME, file:PATH, rawfile:PATH) only: a value
rendered here would sit in clear in the ConfigMap (the daemon refuses it at start, too
late). NAME is a variable's name and PATH absolute (a pod's paths are), so a secret pasted
after the scheme is refused too. The message names the setting, never its value. */}}
{{- define "sluice.validateSecretReferences" -}}
{{- $refs := dict }}
{{- range $key := list "content_digest_key" "manifest_signing_key" "webhook_secret_ref" "job_store_password_ref" }}
{{- if hasKey $ $key }}{{- $_ := set $refs (printf "config.%s" $key) (index $ $key) }}{{- end }}
{{- end }}
{{- range $i, $value := (index $ "manifest_verification_keys" | default list) }}
{{- $_ := set $refs (printf "config.manifest_verification_keys[%d]" $i) $value }}
{{- end }}
{{- range $table := list "secrets" "hash_keys" }}
{{- range $name, $value := (index $ $table | default dict) }}
{{- $_ := set $refs (printf "config.%s.%s" $table $name) $value }}
{{- end }}
{{- end }}
{{- range $name, $profile := (index $ "storage_profiles" | default dict) }}
{{- if kindIs "map" $profile }}
{{- range $field := list "access_key_id_ref" "secret_access_key_ref" "session_token_ref" "connection_string_ref" "account_key_ref" "sas_token_ref" }}
{{- if hasKey $profile $field }}{{- $_ := set $refs (printf "config.storage_profiles.%s.%s" $name $field) (index $profile $field) }}{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $profile := (index $ "source_profiles" | default dict) }}
{{- if and (kindIs "map" $profile) (hasKey $profile "password_ref") }}
{{- $_ := set $refs (printf "config.source_profiles.%s.password_ref" $name) $profile.password_ref }}
{{- end }}
{{- end }}
{{- range $name, $entry := (index $ "notifications" | default dict) }}
{{- if and (kindIs "map" $entry) (hasKey $entry "secret_ref") }}
{{- $_ := set $refs (printf "config.notifications.%s.secret_ref" $name) $entry.secret_ref }}
{{- end }}
{{- end }}
{{- with (index $ "smtp") }}
{{- if and (kindIs "map" .) (hasKey . "password_ref") }}
{{- $_ := set $refs "config.smtp.password_ref" .password_ref }}
{{- end }}
{{- end }}
{{- with (index $ "auth") }}
{{- if kindIs "map" . }}
{{- range $i, $principal := (index . "principals" | default list) }}
{{- if and (kindIs "map" $principal) (hasKey $principal "token_ref") }}
{{- $_ := set $refs (printf "config.auth.principals[%d].token_ref" $i) $principal.token_ref }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- range $setting, $value := $refs }}
{{- if and $value (not (regexMatch "^(env:[A-Za-z_][A-Za-z0-9_]*|(file|rawfile):/.+)$" (toString $value))) }}
{{- fail (printf "%s must be a secret reference (env:NAME, file:/PATH or rawfile:/PATH): the chart renders it into a ConfigMap, where a secret would sit in clear" $setting) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether pods mount the ServiceAccount token: as set, or (unset) only when a cloud
workload identity reads it (IRSA, Azure workload identity, GKE workload identity); the
daemon itself never calls the Kubernetes API. */}}
{{- define "sluice.automountToken" -}}
{{- $set := .Values.serviceAccount.automountServiceAccountToken }}
{{- if kindIs "invalid" $set }}
{{- $annotations := .Values.serviceAccount.annotations | default dict }}
{{- $identity := or (hasKey $annotations "eks.amazonaws.com/role-arn") (hasKey $annotations "azure.workload.identity/client-id") (hasKey $annotations "iam.gke.io/gcp-service-account") (eq (toString (index (.Values.podLabels | default dict) "azure.workload.identity/use")) "true") }}
{{- $identity }}
{{- else }}
{{- $set }}
{{- end }}
{{- end }}
