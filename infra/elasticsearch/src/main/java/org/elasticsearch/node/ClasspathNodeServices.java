package org.elasticsearch.node;

import java.util.List;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * The stock node services except for plugins, which come from the classpath.
 *
 * <p>{@code NodeServiceProvider} and its methods are package-private, hence this package.
 */
final class ClasspathNodeServices extends NodeServiceProvider {

    @Override
    PluginsService newPluginService(Environment environment, Settings settings) {
        // Netty4Plugin supplies the HTTP server and the transport; nothing else is on the classpath.
        return new ClasspathPluginsService(settings, environment.configFile(), List.of(Netty4Plugin.class));
    }
}
