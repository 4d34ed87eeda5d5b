/*
 * commands.h — the entry point of every cardctl command, one group per
 * cmd_*.c file.  Each takes the command's own argv (argv[0] is its name)
 * and returns the process exit code (cli.h).
 */
#ifndef CARDCTL_COMMANDS_H
#define CARDCTL_COMMANDS_H

/* cmd_keys.c */
int cmd_root_main(int argc, char **argv);
int cmd_secret_main(int argc, char **argv);
int cmd_init_main(int argc, char **argv);
int cmd_id_main(int argc, char **argv);
int cmd_cert_main(int argc, char **argv);
int cmd_revoke_main(int argc, char **argv);
/* cmd_student.c */
int cmd_student_main(int argc, char **argv);
int cmd_claim_main(int argc, char **argv);
/* cmd_student_import.c: "student import" */
int student_import_main(int argc, char **argv);
/* cmd_auth.c */
int cmd_auth_main(int argc, char **argv);
/* cmd_reissue.c */
int cmd_reissue_main(int argc, char **argv);
/* cmd_card.c */
int cmd_card_main(int argc, char **argv);
/* cmd_check.c */
int cmd_check_main(int argc, char **argv);
/* cmd_log.c */
int cmd_log_main(int argc, char **argv);
/* cmd_bundle.c */
int cmd_export_main(int argc, char **argv);
int cmd_import_main(int argc, char **argv);
int cmd_merge_main(int argc, char **argv);
int cmd_diff_main(int argc, char **argv);
/* cmd_backup.c */
int cmd_backup_main(int argc, char **argv);
/* cmd_replica.c */
int cmd_verify_main(int argc, char **argv);
int cmd_digest_main(int argc, char **argv);
int cmd_hotlist_main(int argc, char **argv);
int cmd_status_main(int argc, char **argv);
int cmd_sync_main(int argc, char **argv);
int cmd_tap_main(int argc, char **argv);
int cmd_taps_main(int argc, char **argv);

#endif
