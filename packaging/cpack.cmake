# CPack's settings for `make package` (vr_<version>_amd64.deb); included from the top-level
# CMakeLists.txt, where CPack must be included for the `package` target. The package's files
# are the install() rules of lib/, tools/ and packaging/.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vr)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "vr maintainers <vr@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "implicit-feedback ALS video recommender: tools, server and services")
set(CPACK_PACKAGE_DESCRIPTION
    "vr trains implicit-feedback ALS models from interaction logs (vr-features, vr-train,\nvr-evaluate, vr-recommend, vr-pipeline) and serves recommendations over HTTP on the\nAmazon SageMaker inference contract (vr-serve), with a dashboard at /ui. systemd units run\nthe server and a nightly pipeline.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Libraries from what the binaries actually link (dpkg-shlibdeps), plus what the maintainer
# scripts and vr-pipeline call.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd, util-linux")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "bash-completion, man-db")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm
    ${PROJECT_SOURCE_DIR}/packaging/postrm ${PROJECT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
include(CPack)
