# cpack.cmake — the Debian package, built by CPack:
#   cmake --build build --target package      -> build/cardnode_VERSION-1_ARCH.deb
# Included from the top-level CMakeLists.txt after the targets are defined.
# The binaries are installed by their own directories (bin -> /usr/bin);
# this file installs everything else and configures the DEB generator.

set(CN_PKG_DIR ${CMAKE_CURRENT_LIST_DIR})
set(CN_PKG_OUT ${CMAKE_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${CN_PKG_OUT})

# Man pages and the Debian changelog, compressed at build time as Debian
# wants them: gzip -9n (no name, no time stamp, so the .deb is reproducible).
find_program(GZIP_EXECUTABLE gzip REQUIRED)
set(CN_PKG_GZ_SOURCES
  ${CN_PKG_DIR}/cardnode.8
  ${CN_PKG_DIR}/cardctl.8
  ${CN_PKG_DIR}/cardnode.conf.5
  ${CN_PKG_DIR}/changelog.Debian)
set(CN_PKG_GZ_FILES "")
foreach(src ${CN_PKG_GZ_SOURCES})
  get_filename_component(name ${src} NAME)
  set(gz ${CN_PKG_OUT}/${name}.gz)
  add_custom_command(OUTPUT ${gz}
    COMMAND ${GZIP_EXECUTABLE} -9n -c ${src} > ${gz}
    DEPENDS ${src}
    COMMENT "Compressing ${name}"
    VERBATIM)
  list(APPEND CN_PKG_GZ_FILES ${gz})
endforeach()
add_custom_target(cardnode_package_docs ALL DEPENDS ${CN_PKG_GZ_FILES})

# Directories in the package are 0755 whatever the umask of the build.
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE
  GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

install(FILES ${CN_PKG_OUT}/cardnode.8.gz ${CN_PKG_OUT}/cardctl.8.gz
        DESTINATION share/man/man8)
install(FILES ${CN_PKG_OUT}/cardnode.conf.5.gz DESTINATION share/man/man5)
install(FILES ${CN_PKG_DIR}/cardctl.bash-completion
        DESTINATION share/bash-completion/completions RENAME cardctl)
install(FILES ${CN_PKG_DIR}/copyright ${CN_PKG_OUT}/changelog.Debian.gz
        DESTINATION share/doc/cardnode)
install(FILES ${CN_PKG_DIR}/lintian-overrides
        DESTINATION share/lintian/overrides RENAME cardnode)
# Outside the /usr prefix: absolute destinations (the DEB generator stages
# them under its own root; a plain 'cmake --install' writes them as given).
install(FILES ${CN_PKG_DIR}/cardnode.service DESTINATION /lib/systemd/system)
install(FILES ${CN_PKG_DIR}/cardnode.conf DESTINATION /etc/cardnode)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cardnode)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "cardnode maintainers <cardnode@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "offline-first replica node for school student cards")
# CPack puts the summary first; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"cardnode keeps a full replica of students, cards and the blacklist of a
city's school student card system, answers card taps from it even when
the network is down, and reconciles with other nodes through signed,
hash-chained change logs, over TCP or with bundle files on a USB stick.
.
This package holds the daemon (cardnode), the admin command cardctl, a
systemd unit and a sample configuration in /etc/cardnode.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps (dpkg-dev); the maintainer
# scripts need adduser. The architecture is dpkg's (dpkg --print-architecture).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CN_PKG_DIR}/conffiles
  ${CN_PKG_DIR}/postinst
  ${CN_PKG_DIR}/prerm
  ${CN_PKG_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
